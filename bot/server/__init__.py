"""Inside the Rasa process, the server: the launcher of Rasa with its secrets in memory
(``rasa_server``), the guards wrapped around Rasa's own functions (``guards``), the
socket.io channel of the web page (``channels``) and the tracker store (``tracker_store``)."""
