-- Factory widgets with sensor readings (the talk's widgets example).
CREATE STREAM IF NOT EXISTS widgets (
    sensor_id VARCHAR KEY,
    reading_ts VARCHAR,
    production_line VARCHAR,
    widget_type VARCHAR,
    colour VARCHAR,
    temp_celcius INT,
    widget_weight_g INT
) WITH (kafka_topic='widgets', value_format='JSON', partitions=1,
        timestamp='reading_ts', timestamp_format='yyyy-MM-dd''T''HH:mm:ssX');

-- Only red widgets.
CREATE STREAM IF NOT EXISTS widgets_red AS
    SELECT * FROM widgets WHERE colour = 'RED' EMIT CHANGES;

-- Heavy widgets, with the temperature in Fahrenheit.
CREATE STREAM IF NOT EXISTS widgets_heavy AS
    SELECT sensor_id, production_line, widget_weight_g,
           temp_celcius * 9 / 5 + 32 AS temp_fahrenheit
    FROM widgets
    WHERE widget_weight_g > 120
    EMIT CHANGES;

-- Widgets made per production line, per hour.
CREATE TABLE IF NOT EXISTS widgets_per_line_hourly AS
    SELECT production_line, COUNT(*) AS widgets
    FROM widgets
    WINDOW TUMBLING (SIZE 1 HOUR)
    GROUP BY production_line
    EMIT CHANGES;

-- Sensors running warm: average temperature above 20 degrees.
CREATE TABLE IF NOT EXISTS warm_sensors AS
    SELECT sensor_id, AVG(temp_celcius) AS avg_temp
    FROM widgets
    GROUP BY sensor_id
    HAVING AVG(temp_celcius) > 20
    EMIT CHANGES;
