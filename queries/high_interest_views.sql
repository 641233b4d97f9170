-- high_interest_views: which users viewed which products with real interest (percent_viewed > 60),
-- so that offers can target them?
-- Grain: one row per (hour, product_id, user_id) with at least one such ViewContent.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

interested_views as (

    select event_time, product_id, user_id, percent_viewed
    from events
    where event_name = 'ViewContent'
        and percent_viewed > 60
        and event_time >= $hour_start and event_time < $hour_end

),

final as (

    select
        date_trunc('hour', event_time) as hour,
        product_id,
        user_id,
        count(*) as views,
        cast(max(percent_viewed) as decimal(18, 2)) as max_percent_viewed
    from interested_views
    group by date_trunc('hour', event_time), product_id, user_id

)

select * from final
order by hour, product_id nulls last, user_id
