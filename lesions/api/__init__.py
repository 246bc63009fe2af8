"""The records in the REST API (``/api/v1/``): patients, lesions, visits; mounted by config/api_urls.py."""
