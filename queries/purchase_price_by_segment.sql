-- purchase_price_by_segment: what did users of each segment pay on average per purchase, minute by minute?
-- Segments come from the users dimension (dims/users/users.jsonl); a buyer missing from it is 'unknown'.
-- Grain: one row per (minute, segment) with at least one Purchase.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

purchases as (

    select date_trunc('minute', event_time) as minute, user_id, price
    from events
    where event_name = 'Purchase'
        and event_time >= $hour_start and event_time < $hour_end

),

user_segments as (

    select user_id, segment
    from users

),

purchases_with_segment as (

    select
        purchases.minute,
        coalesce(user_segments.segment, 'unknown') as segment,
        purchases.price
    from purchases
    left join user_segments on user_segments.user_id = purchases.user_id

),

final as (

    select
        minute,
        segment,
        count(*) as purchases,
        -- The mean from whole cents, half rounded up: a double's avg cast to decimal rounds 127.235 down on
        -- one engine (127.23499999...) and up on another, so the same data would unload different bytes.
        -- Purchases without a price are left out of the mean, as avg does; none with a price gives null.
        cast(floor((2 * sum(round(price * 100)) + count(price)) / (2.0 * nullif(count(price), 0))) / 100 as decimal(18, 2)) as avg_price
    from purchases_with_segment
    group by minute, segment

)

select * from final
order by minute, segment
