"""The REST API, version 1 (``/api/v1/``): serializers, views, URLs and the services behind them."""
