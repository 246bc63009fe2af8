from django.urls import path

from followup import views, views_change, views_worklists

urlpatterns = [
    path("patients/<uuid:uuid>/", views.patient_detail, name="patient-detail"),
    path("lesions/<uuid:uuid>/", views.lesion_detail, name="lesion-detail"),
    path("lesions/<uuid:uuid>/compare/", views.lesion_compare, name="lesion-compare"),
    path("visits/<uuid:uuid>/", views.visit_detail, name="visit-detail"),
    path("visits/<uuid:uuid>/report/", views.visit_report, name="visit-report"),
    path("clinic/agreement/", views.clinic_agreement, name="clinic-agreement"),
    path("images/<uuid:uuid>/analysis/", views.lesion_image_analysis, name="lesion-image-analysis"),
    path(
        "images/<uuid:uuid>/aligned/<uuid:reference>.jpg",
        views_change.lesion_image_aligned,
        name="lesion-image-aligned",
    ),
    path("flags/<uuid:uuid>/review/", views_change.flag_review, name="flag-review"),
    path("clinic/flags/", views_change.clinic_flags, name="clinic-flags"),
    path("clinic/worklists/", views_worklists.clinic_worklists, name="clinic-worklists"),
]
