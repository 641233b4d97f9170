-- events_by_name: how many events of each name happened in an event hour?
-- Grain: one row per (hour, event_name) with at least one event.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

hour_events as (

    select event_time, event_name
    from events
    where event_time >= $hour_start and event_time < $hour_end

),

final as (

    select
        date_trunc('hour', event_time) as hour,
        event_name,
        count(*) as events
    from hour_events
    group by date_trunc('hour', event_time), event_name

)

select * from final
order by hour, event_name
