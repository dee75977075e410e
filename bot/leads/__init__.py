"""The leads database: who asked for help, what they answered and agreed to, who follows up."""
