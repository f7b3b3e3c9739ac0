"""The knowledge base's demo articles: an insurer's FAQ and procedures, in
Spanish (as the seed project's knowledge base that answers customers)."""

from __future__ import annotations

ARTICLES: list[tuple[str, str, list[str]]] = [
    ("Cómo dar parte de un siniestro de automóvil",
     "Pida al cliente la fecha, hora y lugar del accidente, la matrícula de los vehículos "
     "implicados y si hubo heridos. Si hay parte amistoso (declaración amistosa de "
     "accidente), que lo envíe firmado por ambos conductores. Abra el siniestro en la ficha "
     "del cliente y dele el número de expediente. Grúa 24 horas: 900 100 200.",
     ["auto", "siniestro", "accidente"]),
    ("Cancelar una póliza o darse de baja",
     "El cliente puede anular la póliza con un mes de antelación a su vencimiento, por "
     "escrito. Antes de tramitar la baja, ofrezca la revisión de la prima y las coberturas; "
     "si insiste en cancelar, registre el motivo y envíe el justificante de baja por correo.",
     ["baja", "cancelar", "retención"]),
    ("Presentar una reclamación",
     "Las reclamaciones se registran en el servicio de atención al cliente, que responde en "
     "un mes como máximo. Si el cliente no queda satisfecho puede acudir al Defensor del "
     "Asegurado y al Servicio de Reclamaciones de la DGSFP. Anote el número de reclamación.",
     ["reclamación", "queja"]),
    ("Pedir un presupuesto de seguro de hogar",
     "Para el presupuesto de hogar hacen falta el código postal, los metros cuadrados, el año "
     "de construcción, el valor del continente y del contenido. La prima se calcula al "
     "momento; el cliente puede contratar por teléfono con la firma por SMS.",
     ["hogar", "presupuesto", "prima"]),
    ("Cambiar la cuenta bancaria o la forma de pago",
     "Compruebe la identidad del titular (DNI y fecha de nacimiento). El nuevo IBAN se aplica "
     "al siguiente recibo; el pago puede ser anual, semestral o trimestral con recargo.",
     ["pago", "recibo", "iban"]),
    ("Asistencia en viaje y grúa",
     "La asistencia en carretera funciona 24 horas desde el kilómetro cero. Pida la "
     "ubicación exacta y la matrícula; la grúa llega en unos 45 minutos.",
     ["auto", "grúa", "asistencia"]),
    ("Cobertura de salud: autorizaciones de pruebas",
     "Las pruebas diagnósticas necesitan autorización previa: el cliente envía la "
     "prescripción médica por la app o por correo y recibe la autorización en 48 horas.",
     ["salud", "autorización"]),
]
