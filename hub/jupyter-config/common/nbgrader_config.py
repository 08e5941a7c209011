"""nbgrader on the course server: every exchange action goes through the course's
exchange service (course/hub/service.py), never through a shared folder."""
import os

from course.hub import exchange

c = get_config()  # noqa: F821 - provided by traitlets
exchange.config(c)
c.CourseDirectory.course_id = os.environ.get("COURSE_ID", "cnn-course")
