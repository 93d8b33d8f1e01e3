from django.urls import path

from logistics import views

app_name = "logistics"
urlpatterns = [path("notify/", views.carrier_notify, name="notify")]
