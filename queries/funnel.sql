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

with_previous as (

    select
        user_id,
        click_id,
        event_time,
        event_name,
        lag(event_time) over (partition by user_id order by event_time, click_id) as previous_time
    from window_events

),

marked as (

    select
        user_id,
        click_id,
        event_time,
        event_name,
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
        event_name,
        sum(starts_session) over (
            partition by user_id
            order by event_time, click_id
            rows between unbounded preceding and current row
        ) as session_number,
        row_number() over (partition by user_id order by event_time, click_id) as position
    from marked

),

period_sessions as (

    select user_id, session_number, date_trunc('hour', min(event_time)) as hour
    from numbered
    group by user_id, session_number
    having min(event_time) >= $hour_start and min(event_time) < $hour_end

),

-- each step is the first event of its name after the step before it: the earliest match is never
-- worse for the steps that follow, so a session completes the funnel exactly when this chain does
searched as (

    select user_id, session_number, min(position) as position
    from numbered
    where event_name = 'Search'
    group by user_id, session_number

),

viewed as (

    select numbered.user_id, numbered.session_number, min(numbered.position) as position
    from numbered
    inner join searched
        on searched.user_id = numbered.user_id
        and searched.session_number = numbered.session_number
        and numbered.position > searched.position
    where numbered.event_name = 'ViewContent'
    group by numbered.user_id, numbered.session_number

),

added_to_cart as (

    select numbered.user_id, numbered.session_number, min(numbered.position) as position
    from numbered
    inner join viewed
        on viewed.user_id = numbered.user_id
        and viewed.session_number = numbered.session_number
        and numbered.position > viewed.position
    where numbered.event_name = 'AddToCart'
    group by numbered.user_id, numbered.session_number

),

purchased as (

    select numbered.user_id, numbered.session_number, min(numbered.position) as position
    from numbered
    inner join added_to_cart
        on added_to_cart.user_id = numbered.user_id
        and added_to_cart.session_number = numbered.session_number
        and numbered.position > added_to_cart.position
    where numbered.event_name = 'Purchase'
    group by numbered.user_id, numbered.session_number

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
        on searched.user_id = period_sessions.user_id and searched.session_number = period_sessions.session_number
    left join viewed
        on viewed.user_id = period_sessions.user_id and viewed.session_number = period_sessions.session_number
    left join added_to_cart
        on added_to_cart.user_id = period_sessions.user_id and added_to_cart.session_number = period_sessions.session_number
    left join purchased
        on purchased.user_id = period_sessions.user_id and purchased.session_number = period_sessions.session_number
    group by period_sessions.hour

)

select * from final
order by hour
