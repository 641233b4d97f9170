-- demand_cells: the price model's training data. For each product and each price it was shown at,
-- per event hour: its views (curated ViewContent events) and the units its orders sold at that price.
-- Views come from the clickstream, units from the orders (the shop's record of what sold, with quantities).
-- Events without a product or a positive price are left out.
-- Grain: one row per (hour, product_id, price) with at least one view or order.
-- Parameters: none (reads the whole of `events` and `orders`).
with

views as (

    select date_trunc('hour', event_time) as hour, product_id, price, count(*) as views
    from events
    where event_name = 'ViewContent'
        and product_id is not null
        and price > 0
    group by 1, 2, 3

),

units as (

    select date_trunc('hour', ordered_at) as hour, product_id, unit_price as price, sum(quantity) as units
    from orders
    where product_id is not null
        and unit_price > 0
    group by 1, 2, 3

),

final as (

    select
        coalesce(views.hour, units.hour) as hour,
        coalesce(views.product_id, units.product_id) as product_id,
        coalesce(views.price, units.price) as price,
        coalesce(views.views, 0) as views,
        coalesce(units.units, 0) as units
    from views
    full outer join units
        on views.hour = units.hour
        and views.product_id = units.product_id
        and views.price = units.price

)

select * from final
order by hour, product_id, price
