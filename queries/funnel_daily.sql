-- funnel_daily: funnel.sql for a whole UTC day: distinct users over the day's sessions, so a row is not
-- the sum of the day's hourly rows. Same session and ordering rules, same look-back and look-ahead.
-- Grain: one row per event day with at least one session starting in it.
-- Parameters: $day_start, $day_end (TIMESTAMP, the event day [start, end), UTC).
with

window_events as (

    select user_id, click_id, event_time, event_name
    from events
    where event_time >= $day_start - interval '30 minutes'
        and event_time < $day_end + interval '1 hour'

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

    select user_id, session_number, date_trunc('day', min(event_time)) as day
    from numbered
    group by user_id, session_number
    having min(event_time) >= $day_start and min(event_time) < $day_end

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
        period_sessions.day,
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
    group by period_sessions.day

)

select * from final
order by day
