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

-- one pass over each user's events gives both neighbours and the position of every event
neighboured as (

    select
        user_id,
        event_time,
        lag(event_time) over (partition by user_id order by event_time, click_id) as previous_time,
        lead(event_time) over (partition by user_id order by event_time, click_id) as next_time,
        row_number() over (partition by user_id order by event_time, click_id) as position
    from window_events

),

-- a session's first event follows a gap of more than 30 minutes (or nothing); its last event is
-- followed by one (or nothing): the k-th first event of a user and the k-th last belong to one session
boundaries as (

    select
        user_id,
        event_time,
        position,
        case when previous_time is null or event_time > previous_time + interval '30 minutes' then 1 else 0 end as is_first,
        case when next_time is null or next_time > event_time + interval '30 minutes' then 1 else 0 end as is_last
    from neighboured
    where previous_time is null or event_time > previous_time + interval '30 minutes'
        or next_time is null or next_time > event_time + interval '30 minutes'

),

firsts as (

    select user_id, event_time as started_at, position, row_number() over (partition by user_id order by position) as session_number
    from boundaries
    where is_first = 1

),

lasts as (

    select user_id, event_time as ended_at, position, row_number() over (partition by user_id order by position) as session_number
    from boundaries
    where is_last = 1

),

user_sessions as (

    select
        firsts.user_id,
        firsts.started_at,
        lasts.ended_at,
        lasts.position - firsts.position + 1 as events
    from firsts
    inner join lasts
        on lasts.user_id = firsts.user_id and lasts.session_number = firsts.session_number

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
