"""Follow-up of lesions across visits: the pages and API that combine records with their analyses."""
