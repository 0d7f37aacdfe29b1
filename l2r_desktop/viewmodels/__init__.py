"""View-models: QObjects with signals that hold the window's state. They import no widgets."""
