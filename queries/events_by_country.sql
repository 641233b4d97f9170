-- events_by_country: how many events of each name came from each country in an event hour?
-- (the seed article's UNLOAD). Country is NULL where geolocation found none.
-- Grain: one row per (hour, country, event_name) with at least one event.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

hour_events as (

    select event_time, country, event_name
    from events
    where event_time >= $hour_start and event_time < $hour_end

),

final as (

    select
        date_trunc('hour', event_time) as hour,
        country,
        event_name,
        count(*) as events
    from hour_events
    group by date_trunc('hour', event_time), country, event_name

)

select * from final
order by hour, country nulls last, event_name
