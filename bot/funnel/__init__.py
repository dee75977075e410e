"""The admissions funnel from Rasa's event stream: which steps each conversation reached.

steps.py is the pure part (a Rasa event in, a funnel record or nothing out); broker.py is the
Rasa event broker that publishes those records to RabbitMQ; consumer.py counts them into the
leads database for the console's metrics page.
"""
