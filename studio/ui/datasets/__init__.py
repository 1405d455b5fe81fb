"""The Datasets page: browse, filter and split the project's images, with statistics."""
