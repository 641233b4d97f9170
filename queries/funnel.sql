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

-- a gap of more than 30 minutes never falls inside a minute, so sessions are found over each user's
-- minutes, one row per user and minute, instead of by sorting every event
user_minutes as (

    select user_id, date_trunc('minute', event_time) as minute, min(event_time) as first_time, max(event_time) as last_time
    from window_events
    group by user_id, date_trunc('minute', event_time)

),

neighboured_minutes as (

    select user_id, first_time, lag(last_time) over (partition by user_id order by minute) as previous_time
    from user_minutes

),

-- a session starts after a gap of more than 30 minutes (or nothing) and lasts until the next start; no
-- event shares a start's time and precedes it, so [started_at, next_started_at) holds exactly its events
starts as (

    select
        user_id,
        first_time as started_at,
        lead(first_time) over (partition by user_id order by first_time) as next_started_at
    from neighboured_minutes
    where previous_time is null or first_time > previous_time + interval '30 minutes'

),

period_sessions as (

    select user_id, started_at, next_started_at, date_trunc('hour', started_at) as hour
    from starts
    where started_at >= $hour_start and started_at < $hour_end

),

-- the funnel events of the period's sessions, each with the session it belongs to; a session is followed
-- until the end of the hour after its own (the look-ahead) also when a run covers more hours, so that an
-- hour's row depends only on the events of its own window
session_steps as (

    select period_sessions.user_id, period_sessions.started_at, window_events.event_name, window_events.event_time, window_events.click_id
    from period_sessions
    inner join window_events
        on window_events.user_id = period_sessions.user_id
        and window_events.event_time >= period_sessions.started_at
        and (period_sessions.next_started_at is null or window_events.event_time < period_sessions.next_started_at)
        and window_events.event_time < period_sessions.hour + interval '2 hours'
    where window_events.event_name in ('Search', 'ViewContent', 'AddToCart', 'Purchase')

),

-- each step is the first event of its name after the step before it, in (event_time, click_id) order:
-- the earliest match is never worse for the steps that follow, so a session completes the funnel
-- exactly when this chain does. The first of a step's candidates: the least click_id at the earliest time.
searches as (

    select user_id, started_at, event_time, click_id
    from session_steps
    where event_name = 'Search'

),

searched as (

    select searches.user_id, searches.started_at, searches.event_time, min(searches.click_id) as click_id
    from searches
    inner join (
        select user_id, started_at, min(event_time) as event_time
        from searches
        group by user_id, started_at
    ) as earliest
        on earliest.user_id = searches.user_id
        and earliest.started_at = searches.started_at
        and earliest.event_time = searches.event_time
    group by searches.user_id, searches.started_at, searches.event_time

),

views_after_search as (

    select session_steps.user_id, session_steps.started_at, session_steps.event_time, session_steps.click_id
    from session_steps
    inner join searched
        on searched.user_id = session_steps.user_id
        and searched.started_at = session_steps.started_at
        and (session_steps.event_time > searched.event_time
            or (session_steps.event_time = searched.event_time and session_steps.click_id > searched.click_id))
    where session_steps.event_name = 'ViewContent'

),

viewed as (

    select views_after_search.user_id, views_after_search.started_at, views_after_search.event_time, min(views_after_search.click_id) as click_id
    from views_after_search
    inner join (
        select user_id, started_at, min(event_time) as event_time
        from views_after_search
        group by user_id, started_at
    ) as earliest
        on earliest.user_id = views_after_search.user_id
        and earliest.started_at = views_after_search.started_at
        and earliest.event_time = views_after_search.event_time
    group by views_after_search.user_id, views_after_search.started_at, views_after_search.event_time

),

carts_after_view as (

    select session_steps.user_id, session_steps.started_at, session_steps.event_time, session_steps.click_id
    from session_steps
    inner join viewed
        on viewed.user_id = session_steps.user_id
        and viewed.started_at = session_steps.started_at
        and (session_steps.event_time > viewed.event_time
            or (session_steps.event_time = viewed.event_time and session_steps.click_id > viewed.click_id))
    where session_steps.event_name = 'AddToCart'

),

added_to_cart as (

    select carts_after_view.user_id, carts_after_view.started_at, carts_after_view.event_time, min(carts_after_view.click_id) as click_id
    from carts_after_view
    inner join (
        select user_id, started_at, min(event_time) as event_time
        from carts_after_view
        group by user_id, started_at
    ) as earliest
        on earliest.user_id = carts_after_view.user_id
        and earliest.started_at = carts_after_view.started_at
        and earliest.event_time = carts_after_view.event_time
    group by carts_after_view.user_id, carts_after_view.started_at, carts_after_view.event_time

),

purchases_after_cart as (

    select session_steps.user_id, session_steps.started_at, session_steps.event_time, session_steps.click_id
    from session_steps
    inner join added_to_cart
        on added_to_cart.user_id = session_steps.user_id
        and added_to_cart.started_at = session_steps.started_at
        and (session_steps.event_time > added_to_cart.event_time
            or (session_steps.event_time = added_to_cart.event_time and session_steps.click_id > added_to_cart.click_id))
    where session_steps.event_name = 'Purchase'

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
        on searched.user_id = period_sessions.user_id and searched.started_at = period_sessions.started_at
    left join viewed
        on viewed.user_id = period_sessions.user_id and viewed.started_at = period_sessions.started_at
    left join added_to_cart
        on added_to_cart.user_id = period_sessions.user_id and added_to_cart.started_at = period_sessions.started_at
    left join (
        select distinct user_id, started_at
        from purchases_after_cart
    ) as purchased
        on purchased.user_id = period_sessions.user_id and purchased.started_at = period_sessions.started_at
    group by period_sessions.hour

)

select * from final
order by hour
