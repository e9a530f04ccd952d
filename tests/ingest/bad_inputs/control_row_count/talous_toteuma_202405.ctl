Rivimaara;Summa_yhteensa
13;104052,34
