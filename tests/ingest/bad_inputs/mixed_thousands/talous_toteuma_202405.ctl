Rivimaara;Summa_yhteensa
12;104052,34
