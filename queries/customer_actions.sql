-- customer_actions: what did each user do in the event hour, action by action?
-- Grain: one row per (hour, user_id) with at least one event.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

hour_events as (

    select event_time, user_id, event_name
    from events
    where event_time >= $hour_start and event_time < $hour_end

),

final as (

    select
        date_trunc('hour', event_time) as hour,
        user_id,
        sum(case when event_name = 'Search' then 1 else 0 end) as searches,
        sum(case when event_name = 'ViewContent' then 1 else 0 end) as views,
        sum(case when event_name = 'AddToCart' then 1 else 0 end) as add_to_carts,
        sum(case when event_name = 'Purchase' then 1 else 0 end) as purchases,
        count(*) as events
    from hour_events
    group by date_trunc('hour', event_time), user_id

)

select * from final
order by hour, user_id
