from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic import views as clinic_views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("clinic/audit/", clinic_views.audit_trail, name="audit-trail"),
    path("clinic/audit/export.csv", clinic_views.audit_trail_csv, name="audit-trail-csv"),
    path("api/v1/", include("config.api_urls")),
    # before interop's: its /fhir/ catch-all would take /fhir/.well-known/smart-configuration
    path("", include("integrations.urls")),
    path("", include("interop.urls")),
    path("", include("ml.urls")),
    path("", include("assessment.urls")),
    path("", include("followup.urls")),
    path("", include("lesions.urls")),
]

# Styled error pages for every page (the API answers JSON through its own exception handler).
handler403 = "clinic.views.error_403"
handler404 = "clinic.views.error_404"
handler500 = "clinic.views.error_500"
