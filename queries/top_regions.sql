-- top_regions: which 10 regions sent the most requests (events) in the event hour?
-- Ties are broken by country, then region (NULLs last), so the ranking is deterministic.
-- Grain: one row per (hour, region_rank), at most 10 per hour.
-- Parameters: $hour_start, $hour_end (TIMESTAMP, the event hour [start, end), UTC).
with

hour_events as (

    select event_time, country, region
    from events
    where event_time >= $hour_start and event_time < $hour_end

),

region_requests as (

    select
        date_trunc('hour', event_time) as hour,
        country,
        region,
        count(*) as requests
    from hour_events
    group by date_trunc('hour', event_time), country, region

),

ranked as (

    select
        hour,
        row_number() over (
            partition by hour
            order by requests desc, country nulls last, region nulls last
        ) as region_rank,
        country,
        region,
        requests
    from region_requests

),

final as (

    select hour, region_rank, country, region, requests
    from ranked
    where region_rank <= 10

)

select * from final
order by hour, region_rank
