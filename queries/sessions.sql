-- sessions: how many sessions started in the event hour, how long did they last and how many events did
-- they hold? A session is a user's run of events with no gap over 30 minutes; a gap of more than
-- 30 minutes (strictly) starts a new one. Length is last event time minus first, in seconds.
-- Look-back 30 minutes: enough to tell whether an event of the hour starts a session (its previous
-- event, if within 30 minutes, is visible). Look-ahead 1 hour: a session that started in the hour is
-- followed until the end of the next hour; events after that are not counted (a cap on session length).
-- Grain: one row per event hour with at least one session starting in it.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

window_events as (

    select user_id, click_id, event_time
    from events
    where event_time >= $hour_start - interval '30 minutes'
        and event_time < $hour_end + interval '1 hour'

),

with_previous as (

    select
        user_id,
        click_id,
        event_time,
        lag(event_time) over (partition by user_id order by event_time, click_id) as previous_time
    from window_events

),

marked as (

    select
        user_id,
        click_id,
        event_time,
        case
            when previous_time is null or event_time > previous_time + interval '30 minutes' then 1
            else 0
        end as starts_session
    from with_previous

),

numbered as (

    select
        user_id,
        event_time,
        sum(starts_session) over (
            partition by user_id
            order by event_time, click_id
            rows between unbounded preceding and current row
        ) as session_number
    from marked

),

user_sessions as (

    select
        user_id,
        session_number,
        min(event_time) as started_at,
        max(event_time) as ended_at,
        count(*) as events
    from numbered
    group by user_id, session_number

),

hour_sessions as (

    select
        started_at,
        -- whole microseconds, so that the mean below is exact on every engine
        round(extract(epoch from (ended_at - started_at)) * 1000000) as length_us,
        events
    from user_sessions
    where started_at >= $hour_start and started_at < $hour_end

),

final as (

    select
        date_trunc('hour', started_at) as hour,
        count(*) as sessions,
        -- Means from whole units, half rounded up (as in purchase_price_by_segment.sql): a double's avg
        -- cast to decimal rounds a mean ending in 5 down on one engine and up on another.
        cast(floor((2 * sum(length_us) + 1000 * count(*)) / (2000.0 * count(*))) / 1000 as decimal(18, 3)) as mean_length_seconds,
        cast(floor((2000 * sum(events) + count(*)) / (2.0 * count(*))) / 1000 as decimal(18, 3)) as mean_events
    from hour_sessions
    group by date_trunc('hour', started_at)

)

select * from final
order by hour
