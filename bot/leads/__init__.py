"""The leads database: who asked for help, what they answered, what they agreed to, who follows up."""
