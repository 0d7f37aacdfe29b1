"""Widgets: display state from the view-models and forward user actions to them."""
import pyqtgraph as pg

# Once for the whole application: arrays are (row, column) like numpy and PIL images.
pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
