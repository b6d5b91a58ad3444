"""The CMS core: domain model, service layer, dispatcher. Imports no web or transport framework."""
