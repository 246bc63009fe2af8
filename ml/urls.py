from django.urls import path

from ml import views

urlpatterns = [
    path("predictions/<uuid:uuid>/heatmap.png", views.prediction_heatmap, name="prediction-heatmap"),
    path("predictions/<uuid:uuid>/cam.png", views.prediction_cam, name="prediction-cam"),
]
