-- Read back what the saved queries produced.
SELECT * FROM big_orders;
SELECT * FROM card_payments;
SELECT * FROM widgets_red;
SELECT * FROM widgets_heavy;
SELECT * FROM movements_upper;
SELECT * FROM customer_totals;
SELECT * FROM warm_sensors;
SELECT * FROM person_movements;
