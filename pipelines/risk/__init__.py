"""The risk model (scikit-learn): history, features, training, scoring, reasons."""


class ModelError(Exception):
    """A model that cannot be used; the message says what to do."""
