-- active_users_per_hour: how many distinct users clicked, and how often, in the event hour (tumbling window)?
-- Grain: one row per event hour with at least one event.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

hour_events as (

    select event_time, user_id
    from events
    where event_time >= $hour_start and event_time < $hour_end

),

final as (

    select
        date_trunc('hour', event_time) as hour,
        count(distinct user_id) as users,
        count(*) as clicks
    from hour_events
    group by date_trunc('hour', event_time)

)

select * from final
order by hour
