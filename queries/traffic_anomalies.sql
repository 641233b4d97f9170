-- traffic_anomalies: is an event name's count in the event hour unusual against the 24 hours before it?
-- A batch stand-in for streaming anomaly detection: z = (count - mean) / stddev over the trailing 24
-- hourly counts, hours without events counting as 0 (population standard deviation, computed exactly
-- from integer sums). Flagged (is_anomaly = 1) when stddev > 0 and |z| > $z_threshold; with no variation in
-- the trailing hours z is NULL and nothing is flagged. Look-back 24 hours.
-- Grain: one row per (hour, event_name) seen in the hour or in the trailing 24 hours.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC); $z_threshold (number, default 3).
with

window_events as (

    select date_trunc('hour', event_time) as hour, event_name
    from events
    where event_time >= $hour_start - interval '24 hours' and event_time < $hour_end

),

hourly_counts as (

    select hour, event_name, count(*) as events
    from window_events
    group by hour, event_name

),

current_hour as (

    select event_name, events
    from hourly_counts
    where hour = $hour_start

),

trailing_hours as (

    select event_name, sum(events) as total, sum(events * events) as total_squares
    from hourly_counts
    where hour < $hour_start
    group by event_name

),

event_names as (

    select event_name from current_hour
    union
    select event_name from trailing_hours

),

stats as (

    select
        event_names.event_name,
        coalesce(current_hour.events, 0) as events,
        coalesce(trailing_hours.total, 0) / 24.0 as trailing_mean,
        sqrt((24 * coalesce(trailing_hours.total_squares, 0) - coalesce(trailing_hours.total, 0) * coalesce(trailing_hours.total, 0)) / 576.0) as trailing_stddev
    from event_names
    left join current_hour on current_hour.event_name = event_names.event_name
    left join trailing_hours on trailing_hours.event_name = event_names.event_name

),

scored as (

    select
        event_name,
        events,
        trailing_mean,
        trailing_stddev,
        case when trailing_stddev > 0 then (events - trailing_mean) / trailing_stddev end as z_score
    from stats

),

final as (

    select
        cast($hour_start as timestamp) as hour,
        event_name,
        events,
        cast(trailing_mean as decimal(18, 3)) as trailing_mean,
        cast(trailing_stddev as decimal(18, 3)) as trailing_stddev,
        cast(z_score as decimal(18, 3)) as z_score,
        case when z_score is not null and abs(z_score) > $z_threshold then 1 else 0 end as is_anomaly
    from scored

)

select * from final
order by hour, event_name
