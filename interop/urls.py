from django.urls import include, path

from interop import views

urlpatterns = [
    path("fhir/", include("interop.fhir.urls")),
    path("visits/<uuid:uuid>/report.pdf", views.visit_report_pdf, name="visit-report-pdf"),
]
