-- Online shop: orders and payments (the order_placed events of the lecture notes).
CREATE STREAM IF NOT EXISTS orders (
    order_id INT KEY,
    customer_id INT,
    order_date VARCHAR,
    total_amount DOUBLE
) WITH (kafka_topic='orders', value_format='JSON', partitions=1);

CREATE STREAM IF NOT EXISTS payments (
    payment_id INT KEY,
    order_id INT,
    payment_method VARCHAR,
    amount DOUBLE
) WITH (kafka_topic='payments', value_format='JSON', partitions=1);

-- Large orders, for the fraud team.
CREATE STREAM IF NOT EXISTS big_orders AS
    SELECT order_id, customer_id, total_amount
    FROM orders
    WHERE total_amount >= 1000
    EMIT CHANGES;

-- Card payments, with the amount in cents.
CREATE STREAM IF NOT EXISTS card_payments AS
    SELECT payment_id, order_id, CAST(ROUND(amount * 100) AS BIGINT) AS amount_cents
    FROM payments
    WHERE payment_method = 'card'
    EMIT CHANGES;

-- What each customer has spent so far.
CREATE TABLE IF NOT EXISTS customer_totals AS
    SELECT customer_id, COUNT(*) AS orders, SUM(total_amount) AS spent
    FROM orders
    GROUP BY customer_id
    EMIT CHANGES;
