"""Dead-letter queue: a durable store of failed deliveries and the policy that retries them."""
