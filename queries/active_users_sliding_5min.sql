-- active_users_sliding_5min: for each minute m of the event hour, how many distinct users clicked, and how
-- often, in the five whole minutes ending with m, [m - 4 minutes, m + 1 minute) (sliding window)?
-- Look-back: the 4 minutes before the hour, so the first minutes of an hour depend on the previous hour.
-- Grain: one row per minute of the event hour whose window holds at least one event.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

-- each user's clicks per minute: one row per user and minute, so that the spread below multiplies
-- thousands of rows by five, not the hour's millions of events
user_minutes as (

    select date_trunc('minute', event_time) as event_minute, user_id, count(*) as clicks
    from events
    where event_time >= $hour_start - interval '4 minutes' and event_time < $hour_end
    group by date_trunc('minute', event_time), user_id

),

-- a user's minute counts in the window of its own minute and of the four minutes after it
offsets as (

    select 0 as minutes_after
    union all select 1
    union all select 2
    union all select 3
    union all select 4

),

spread as (

    select
        user_minutes.event_minute + offsets.minutes_after * interval '1 minute' as minute,
        user_minutes.user_id,
        user_minutes.clicks
    from user_minutes
    cross join offsets

),

final as (

    select
        minute,
        count(distinct user_id) as users,
        cast(sum(clicks) as bigint) as clicks
    from spread
    where minute >= $hour_start and minute < $hour_end
    group by minute

)

select * from final
order by minute
