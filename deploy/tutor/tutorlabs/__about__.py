# The plugin's version is the product's: LABS_DOCKER_IMAGE's default tag and the XBlock
# requirement follow it, so a plugin release names the image and XBlock it was tested with.
__version__ = "0.1.0"
