-- funnel: per event hour, how many users went Search -> ViewContent -> AddToCart -> Purchase in that
-- order within one session? Each column counts distinct users with a session starting in the hour that
-- reached the step after all the steps before it (a step before the previous one does not count;
-- events at the same time are ordered by click_id). Sessions as in sessions.sql: a gap of more than
-- 30 minutes starts a new one. Look-back 30 minutes (to find session starts), look-ahead 1 hour (a
-- session is followed until the end of the next hour).
-- Grain: one row per event hour with at least one session starting in it.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

window_events as (

    select user_id, click_id, event_time, event_name
    from events
    where event_time >= $hour_start - interval '30 minutes'
        and event_time < $hour_end + interval '1 hour'

),

-- one pass over each user's events: the time of the event before, and each event's position
positioned as (

    select
        user_id,
        event_time,
        event_name,
        lag(event_time) over (partition by user_id order by event_time, click_id) as previous_time,
        row_number() over (partition by user_id order by event_time, click_id) as position
    from window_events

),

-- a session starts after a gap of more than 30 minutes (or nothing) and lasts until the next start
starts as (

    select
        user_id,
        event_time as started_at,
        position as first_position,
        lead(position) over (partition by user_id order by position) as next_first_position
    from positioned
    where previous_time is null or event_time > previous_time + interval '30 minutes'

),

period_sessions as (

    select user_id, first_position, next_first_position, date_trunc('hour', started_at) as hour
    from starts
    where started_at >= $hour_start and started_at < $hour_end

),

-- the funnel events of the period's sessions, each with the session it belongs to
session_steps as (

    select period_sessions.user_id, period_sessions.first_position, positioned.event_name, positioned.position
    from period_sessions
    inner join positioned
        on positioned.user_id = period_sessions.user_id
        and positioned.position >= period_sessions.first_position
        and (period_sessions.next_first_position is null or positioned.position < period_sessions.next_first_position)
    where positioned.event_name in ('Search', 'ViewContent', 'AddToCart', 'Purchase')

),

-- each step is the first event of its name after the step before it: the earliest match is never
-- worse for the steps that follow, so a session completes the funnel exactly when this chain does
searched as (

    select user_id, first_position, min(position) as position
    from session_steps
    where event_name = 'Search'
    group by user_id, first_position

),

viewed as (

    select session_steps.user_id, session_steps.first_position, min(session_steps.position) as position
    from session_steps
    inner join searched
        on searched.user_id = session_steps.user_id
        and searched.first_position = session_steps.first_position
        and session_steps.position > searched.position
    where session_steps.event_name = 'ViewContent'
    group by session_steps.user_id, session_steps.first_position

),

added_to_cart as (

    select session_steps.user_id, session_steps.first_position, min(session_steps.position) as position
    from session_steps
    inner join viewed
        on viewed.user_id = session_steps.user_id
        and viewed.first_position = session_steps.first_position
        and session_steps.position > viewed.position
    where session_steps.event_name = 'AddToCart'
    group by session_steps.user_id, session_steps.first_position

),

purchased as (

    select session_steps.user_id, session_steps.first_position, min(session_steps.position) as position
    from session_steps
    inner join added_to_cart
        on added_to_cart.user_id = session_steps.user_id
        and added_to_cart.first_position = session_steps.first_position
        and session_steps.position > added_to_cart.position
    where session_steps.event_name = 'Purchase'
    group by session_steps.user_id, session_steps.first_position

),

final as (

    select
        period_sessions.hour,
        count(distinct period_sessions.user_id) as users_with_session,
        count(distinct searched.user_id) as searched,
        count(distinct viewed.user_id) as viewed_after_search,
        count(distinct added_to_cart.user_id) as added_to_cart_after_view,
        count(distinct purchased.user_id) as purchased_after_cart
    from period_sessions
    left join searched
        on searched.user_id = period_sessions.user_id and searched.first_position = period_sessions.first_position
    left join viewed
        on viewed.user_id = period_sessions.user_id and viewed.first_position = period_sessions.first_position
    left join added_to_cart
        on added_to_cart.user_id = period_sessions.user_id and added_to_cart.first_position = period_sessions.first_position
    left join purchased
        on purchased.user_id = period_sessions.user_id and purchased.first_position = period_sessions.first_position
    group by period_sessions.hour

)

select * from final
order by hour
