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

    select user_id, event_time
    from events
    where event_time >= $hour_start - interval '30 minutes'
        and event_time < $hour_end + interval '1 hour'

),

-- a gap of more than 30 minutes never falls inside a minute, so sessions are found over each user's
-- minutes, one row per user and minute, instead of by sorting every event
user_minutes as (

    select
        user_id,
        date_trunc('minute', event_time) as minute,
        min(event_time) as first_time,
        max(event_time) as last_time,
        count(*) as events
    from window_events
    group by user_id, date_trunc('minute', event_time)

),

neighboured_minutes as (

    select
        user_id,
        minute,
        first_time,
        last_time,
        events,
        lag(last_time) over (partition by user_id order by minute) as previous_time
    from user_minutes

),

-- a minute whose first event follows the user's previous event by more than 30 minutes (or nothing)
-- starts a session; a session holds its first minute and the user's minutes up to the next start
numbered_minutes as (

    select
        user_id,
        first_time,
        last_time,
        events,
        sum(case when previous_time is null or first_time > previous_time + interval '30 minutes' then 1 else 0 end) over (
            partition by user_id
            order by minute
            rows between unbounded preceding and current row
        ) as session_number
    from neighboured_minutes

),

session_starts as (

    select user_id, session_number, min(first_time) as started_at
    from numbered_minutes
    group by user_id, session_number

),

-- a session is followed until the end of the hour after its own (the look-ahead) also when a run covers
-- more hours, so that an hour's row depends only on the events of its own window
user_sessions as (

    select
        session_starts.user_id,
        session_starts.started_at,
        max(numbered_minutes.last_time) as ended_at,
        cast(sum(numbered_minutes.events) as bigint) as events
    from session_starts
    inner join numbered_minutes
        on numbered_minutes.user_id = session_starts.user_id
        and numbered_minutes.session_number = session_starts.session_number
        and numbered_minutes.first_time < date_trunc('hour', session_starts.started_at) + interval '2 hours'
    group by session_starts.user_id, session_starts.started_at

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
