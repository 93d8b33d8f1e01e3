from django.urls import path

from payments import views

app_name = "payments"
urlpatterns = [
    path("notify/alipay/", views.notify_alipay, name="notify-alipay"),
    path("notify/wechat/", views.notify_wechat, name="notify-wechat"),
    path("vouchers/<str:token>/", views.voucher_download, name="voucher-download"),
]
