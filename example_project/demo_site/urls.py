"""URLs of the example project: Django's admin, with the failed-job pages at
/admin/django_jobqueue/failedjob/."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
