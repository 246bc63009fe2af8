from django.urls import path

from integrations import views

urlpatterns = [
    path("oauth/token/", views.ClientTokenView.as_view(), name="oauth-token"),
    path(".well-known/smart-configuration", views.smart_configuration, name="smart-configuration"),
    path("fhir/.well-known/smart-configuration", views.smart_configuration, name="fhir-smart-configuration"),
    path("clinic/integrations/", views.client_list, name="integration-clients"),
    path("clinic/integrations/<uuid:uuid>/revoke/", views.client_revoke, name="integration-client-revoke"),
]
