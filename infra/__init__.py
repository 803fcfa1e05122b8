"""CDK constructs, one per concern; `RecountStack` composes them."""
