from django.urls import path

from assessment import views

urlpatterns = [
    path("images/<uuid:uuid>/checklist/", views.checklist_edit, name="checklist-edit"),
    path("visits/<uuid:uuid>/assessment/", views.assessment_edit, name="visit-assessment"),
    path("visits/<uuid:uuid>/sign/", views.visit_sign, name="visit-sign"),
    path("visits/<uuid:uuid>/addenda/", views.addendum_add, name="visit-addendum"),
]
