from django.urls import path

from lesions import views

urlpatterns = [
    path("", views.index, name="home"),
    path("patients/", views.patient_list, name="patient-list"),
    path("patients/new/", views.patient_create, name="patient-create"),
    path("patients/<uuid:uuid>/edit/", views.patient_edit, name="patient-edit"),
    path("patients/<uuid:uuid>/lesions/new/", views.lesion_create, name="lesion-create"),
    path("patients/<uuid:uuid>/visits/new/", views.visit_new, name="visit-create"),
    path("lesions/<uuid:uuid>/edit/", views.lesion_edit, name="lesion-edit"),
    path("lesions/<uuid:uuid>/histopathology/", views.lesion_histopathology, name="lesion-histopathology"),
    path("images/<uuid:uuid>/file/", views.lesion_image_file, name="lesion-image-file"),
]
