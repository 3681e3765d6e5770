-- Person movements (the talk's streams-and-tables example).
CREATE STREAM IF NOT EXISTS movements (
    person VARCHAR KEY,
    event_ts VARCHAR,
    location VARCHAR
) WITH (kafka_topic='movements', value_format='JSON', partitions=1,
        timestamp='event_ts', timestamp_format='yyyy-MM-dd''T''HH:mm:ssX');

-- Where everyone went, in upper case.
CREATE STREAM IF NOT EXISTS movements_upper AS
    SELECT person, UCASE(location) AS location
    FROM movements
    EMIT CHANGES;
