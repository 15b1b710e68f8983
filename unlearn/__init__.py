"""unlearn: can this data be removed from a trained model?"""
