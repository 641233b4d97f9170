-- product_demand: how much demand did each product see in the event hour (the pricing branch reads it)?
-- revenue is the sum of the Purchase events' price. Events without a product are left out.
-- Grain: one row per (hour, product_id) with at least one event.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

product_events as (

    select event_time, product_id, event_name, price
    from events
    where product_id is not null
        and event_time >= $hour_start and event_time < $hour_end

),

final as (

    select
        date_trunc('hour', event_time) as hour,
        product_id,
        sum(case when event_name = 'ViewContent' then 1 else 0 end) as views,
        sum(case when event_name = 'AddToCart' then 1 else 0 end) as add_to_carts,
        sum(case when event_name = 'Purchase' then 1 else 0 end) as purchases,
        cast(coalesce(sum(case when event_name = 'Purchase' then price end), 0) as decimal(18, 2)) as revenue
    from product_events
    group by date_trunc('hour', event_time), product_id

)

select * from final
order by hour, product_id
