Rivimaara;Summa_yhteensa
12;80736,44
