-- Sample events for the saved queries in queries/ (run once: inserts are data).
INSERT INTO orders (order_id, customer_id, order_date, total_amount) VALUES (301, 1001, '2025-01-26', 2090.0);
INSERT INTO orders (order_id, customer_id, order_date, total_amount) VALUES (302, 1002, '2025-01-26', 45.5);
INSERT INTO payments (payment_id, order_id, payment_method, amount) VALUES (9001, 301, 'card', 2090.0);
INSERT INTO payments (payment_id, order_id, payment_method, amount) VALUES (9002, 302, 'swish', 45.5);
INSERT INTO widgets (sensor_id, reading_ts, production_line, widget_type, colour, temp_celcius, widget_weight_g)
    VALUES ('aa-101', '2020-02-14T12:19:27Z', 'w01', 'acme94', 'RED', 23, 100);
INSERT INTO widgets (sensor_id, reading_ts, production_line, widget_type, colour, temp_celcius, widget_weight_g)
    VALUES ('aa-102', '2020-02-14T12:19:30Z', 'w01', 'acme94', 'BLUE', 25, 130);
INSERT INTO movements (person, event_ts, location) VALUES ('robin', '2020-02-17T15:22:00Z', 'Leeds');
INSERT INTO movements (person, event_ts, location) VALUES ('robin', '2020-02-17T17:23:00Z', 'London');
INSERT INTO movements (person, event_ts, location) VALUES ('robin', '2020-02-17T22:23:00Z', 'Wakefield');
INSERT INTO movements (person, event_ts, location) VALUES ('robin', '2020-02-18T09:00:00Z', 'Leeds');
